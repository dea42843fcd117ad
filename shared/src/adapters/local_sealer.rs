//! Local AES-256-GCM sealer (to be written).
