"""The words a person reads about a run: the plan and summary lines, and progress (a tqdm bar on a
terminal, log lines elsewhere). Below every front end, above the engine."""
