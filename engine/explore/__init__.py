"""Exploring limits: the capacity search (the highest arrival rate that holds the
thresholds) and the findings that say why a run broke (`insights`)."""
