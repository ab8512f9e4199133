"""An endpoint declared in Python: run it with `.venv/bin/python deployments/python_endpoint.py`.

It starts the platform on an embedded Ray (loopback only, port 8080), creates the endpoint
through the SageMaker API, and calls it from Python without HTTP. While it runs, the
endpoint also answers boto3 and curl like any other:

    curl -s -X POST http://127.0.0.1:8080/endpoints/iris/invocations \
         -H 'Content-Type: application/json' -d '[[5.1, 3.5, 1.4, 0.2]]'
"""

import time

import serverless_ray


@serverless_ray.endpoint(name="iris", memory_size_mb=1024, max_concurrency=4)
class Iris:
    """A nearest-centroid classifier over the iris measurements."""

    CENTROIDS = {
        "setosa": (5.01, 3.43, 1.46, 0.25),
        "versicolor": (5.94, 2.77, 4.26, 1.33),
        "virginica": (6.59, 2.97, 5.55, 2.03),
    }

    def __init__(self):
        self.classes = list(self.CENTROIDS.items())  # a real model would load weights here

    def __call__(self, rows):
        def nearest(row):
            return min(self.classes, key=lambda c: sum((a - b) ** 2 for a, b in zip(row, c[1])))[0]

        return {"predictions": [nearest(row) for row in rows]}


if __name__ == "__main__":
    iris = serverless_ray.run(Iris)
    print(iris([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    print("serving on http://127.0.0.1:8080 - Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
