//! Every integration test, in one binary (one link, one engine trained once):
//! the real router or the real binary, over real sockets.

mod admin;
mod assets;
mod binary;
mod care;
mod chat;
mod connections;
mod console;
mod contract;
mod conversation;
mod handoff;
mod helpers;
mod limits;
mod paraphrase;
mod records;
mod replicas;
mod tuning;
