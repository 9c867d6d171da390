//! HTTP tests of the content-reader, started the way `main` starts it,
//! beside a real auth service and a real writer, against a real PostgreSQL
//! primary, a real streaming replica and a real Redis.

mod helpers;

mod admission;
mod cache;
mod catalog;
mod compression;
mod consistency;
mod db;
mod detail;
mod embargo;
mod feed;
mod http_caching;
mod invalidation;
mod listing;
mod params;
mod relevance;
mod replicas;
mod search;
