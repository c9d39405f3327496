"""What researchers and staff read: results summaries and CSV exports."""
