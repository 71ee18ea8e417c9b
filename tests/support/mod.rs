#![allow(dead_code)]

pub mod etsy;
