//! The SWE-RL reward. (Being written.)
