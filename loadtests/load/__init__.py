"""The load: Locust users (``locustfile``), the day-shaped load shape (``shapes``, ``profiles``:
the simulator's day profile played faster) and how ``hivesim live`` runs Locust (``loadrun``)."""
