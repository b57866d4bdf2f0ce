"""Paper tables on demand: `python -m rrm_jax.tables --paper=trm --workdir=DIR`.

`registry` holds the tables (rows = experiment configs + the summary key they are read from);
`run` trains or evaluates the rows not yet run and writes the report (reported beside measured,
spread over seeds, hardware, wall time, and for rows not run the projected time here).
"""
