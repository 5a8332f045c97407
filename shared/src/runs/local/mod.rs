//! The local adapters of the lifecycle's ports, for the one-process local
//! stack and tests: an in-process priority queue, executors as child
//! processes, a timer per tracked run, blobs on the filesystem behind signed
//! URLs. Each keeps the contract of its AWS counterpart in [`super::aws`].

pub mod blobs;
pub mod launcher;
pub mod queue;
pub mod tracker;
