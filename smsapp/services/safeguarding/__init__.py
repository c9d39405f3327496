"""Safeguarding: screen every text (screening), the lead's inbox (inbox), the e-mail alert
(email_alert)."""
