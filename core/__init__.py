"""The shared OTP core: rules that provisioning and the verifier both follow, written once.

Pure CPython, no I/O; it imports neither `baoling.provisioning` nor `baoling.verifier`.
"""
