"""Safeguarding flags: screen every text, the lead's inbox, the e-mail alert."""
