"""Experiments: cases × a grid of settings × repeats, scored, with paired statistics.

>>> cases = nv.load_cases("examples/cases.jsonl")                       # doctest: +SKIP
>>> exp = session.experiment(cases, vary={"provider": ["nvidia-nim", "nvidia-gateway"]},
...                          scorers=[nv.checks.expected()])            # doctest: +SKIP
>>> exp.plan()                                                          # doctest: +SKIP
>>> run = exp.run(save_to="run.jsonl")                                  # doctest: +SKIP
>>> run.compare(a={"provider": "nvidia-nim"}, b={"provider": "nvidia-gateway"})  # doctest: +SKIP
"""
