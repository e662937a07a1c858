from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark as an app for its ``bench`` command alone: no models, no URLs."""

    name = "bench"
    verbose_name = "Benchmark"
