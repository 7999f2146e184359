"""The sync worker: RQ jobs that project committed changes into every configured store."""
