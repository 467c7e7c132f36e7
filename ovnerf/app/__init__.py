"""The application layer: one workspace layout (``workspace``), one ``key=value`` override syntax
(``options``) and one run path preprocess → train → evaluate (``run``), shared by the ``ovnerf``
CLI, the ROS trainer node and the experiments (demo, ablation, bench)."""
