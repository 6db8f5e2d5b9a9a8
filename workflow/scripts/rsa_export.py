"""One dataset's RDMs of every model as an rsatoolbox `RDMs` in HDF5 (rsatoolbox.rdm.load_rdm reads it)."""
from vlgen.jobs import start_job
from vlgen.tasks.rsa_interop import export_hdf5

start_job(snakemake.log[0], snakemake.threads)
export_hdf5(list(snakemake.input), snakemake.output[0])
