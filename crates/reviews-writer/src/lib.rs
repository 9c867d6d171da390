//! reviews-writer
