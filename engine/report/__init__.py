"""Reports: the TOML file every run leaves, read back, reviewed, compared, merged,
exported and rendered as text."""
