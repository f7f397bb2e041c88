//! Background work of a running server: the [`worker`]s that drain the durable job queue,
//! the [`scheduler`] that queues source runs and takes scheduled backups, and index
//! [`maintenance`], and the [`leases`] that make replicas sharing one database do scheduled
//! work once. Jobs call services; nothing below calls back into them.

pub mod leases;
pub mod maintenance;
pub mod scheduler;
pub mod worker;
