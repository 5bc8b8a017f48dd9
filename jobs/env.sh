# env.sh - MPI settings for running on this kind of machine (sourced).
# mpirun refuses root without both variables; more ranks than cores needs
# oversubscription; single-host runs stay on shared memory.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
