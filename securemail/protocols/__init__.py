"""Protocol sessions that turn decoded commands into service calls."""
