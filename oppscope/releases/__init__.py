"""Releases installed side by side from the lock, the zero-downtime deploy and rollback that switch between them,
and their notices."""
