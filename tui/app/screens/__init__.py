"""The app's screens: picker, run, summary, and the modals they open."""
