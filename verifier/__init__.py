"""Server side: checks the codes people type, with drift, replay protection and lockout."""
