"""Table 1, the ablation tables and the figures, from the study's metrics files or from MLflow."""
