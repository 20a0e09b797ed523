"""An organization's workforce: its workers, their groups (qualifications),
the groups projects require, and deactivation."""
