"""The policy pack (run by the Pulumi CLI from this folder) and its adapter."""
