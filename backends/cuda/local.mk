# backends/cuda: filled in by its owner
