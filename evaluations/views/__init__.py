"""Annotation pages: `pages` (sign-in, traces, sessions, scoring) and `queues` (review queues)."""
