# env.sh - what Open MPI needs to run as root (sourced). mpirun refuses to
# start as root unless both variables are set; nothing else is changed, so
# the transports and placement are Open MPI's own (what a user gets). The
# tests set their own workarounds for this small test machine
# (tests/e2e/CMakeLists.txt).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
