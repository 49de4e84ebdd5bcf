"""The `baoling` command line: ties the token, provisioning and the verifier together."""
