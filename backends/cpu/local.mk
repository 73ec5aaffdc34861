# backends/cpu: filled in by its owner
