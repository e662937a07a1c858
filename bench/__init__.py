"""The benchmark behind ``python manage.py bench``: realistic volumes, every DESIGN §9 bar.

Not part of the product: nothing here is imported by the apps. It sits above
``offers`` in the layers and may use all of them; it is an app only to carry its
command (``bench/management/commands/bench.py``).
"""
