//! Model backends. (Being written.)
