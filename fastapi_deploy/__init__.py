"""fastapi-deploy as a library: `from fastapi_deploy.components import AppFleet, ...`.

The subpackages live at the repository's top level (`components/`, `cloud_init/`,
`stack_model/`, where the project's layout puts them) and are linked in here, so that an
installed copy is imported under this one name and never collides with a folder of the same
name in a user's own Pulumi program. Import them only as `fastapi_deploy.<subpackage>`:
the bare top-level names would load a second copy of every module.
"""
