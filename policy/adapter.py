"""fastapi_deploy.policies as pulumi-policy policies (every one mandatory)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from fastapi_deploy.policies import (
    RESOURCE_POLICIES,
    STACK_POLICIES,
    ResourcePolicy,
    StackPolicy,
    StackResource,
)

__all__ = ["policies"]


def _resource(policy: ResourcePolicy) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in policy.resource_types:
            return
        for problem in policy.check(args.resource_type, args.props):
            report_violation(problem, args.urn)

    return ResourceValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _stack(policy: StackPolicy) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            StackResource(
                type=item.resource_type,
                name=item.name,
                urn=item.urn,
                props=item.props,
                property_dependencies={
                    key: [dependency.urn for dependency in dependencies]
                    for key, dependencies in (item.property_dependencies or {}).items()
                },
            )
            for item in args.resources
        ]
        for name, problem in policy.check(resources):
            report_violation(f"{name}: {problem}", None)

    return StackValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def policies() -> list[Policy]:
    return [*map(_resource, RESOURCE_POLICIES), *map(_stack, STACK_POLICIES)]
