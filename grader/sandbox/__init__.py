"""Where student code runs: the zygote and its workers, their layers, the protocol, the canary.

Imported by the worker too (``python -I -m grader.sandbox.worker``): this file imports
nothing."""

#: One thread each for BLAS and OpenMP (numpy, torch), in every worker (forking after they start
#: their pools is unsafe, and the per-uid process limit counts threads) and in the processes
#: that grade (``grader.prefork``'s clean start, a batch's grading processes): the grader's
#: arrays are far too small for a second thread to help, a batch of J jobs on J cores would
#: otherwise start J threads a core, and a batch then grades as `grader grade` does. (Measured
#: side by side, two grading processes: 4-5% less wall and CPU on one thread, within the noise.)
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
