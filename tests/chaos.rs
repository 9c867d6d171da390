//! Faults under load: processes killed and restarted while reads and writes go on.
