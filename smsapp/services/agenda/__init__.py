"""Young people set the agenda: questions they propose (ASK), and youth leads (SEND)."""
