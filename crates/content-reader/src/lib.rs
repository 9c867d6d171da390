//! content-reader
