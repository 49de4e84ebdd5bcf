"""Host side of the token's USB-serial link: talk to, provision and export Baoling tokens."""
