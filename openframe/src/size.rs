//! The widget's size.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The OpenFrame widget's size in pixels.
///
/// Both sides must lie within [`Size::MIN`] and [`Size::MAX`]: OpenFrame's client API
/// needs them above zero, and a frame smaller than 50 px or larger than a 4K screen
/// is a typo, not a layout. The vendor's default is 373 × 300.
///
/// ```
/// use servicenow_openframe::Size;
/// assert_eq!(Size::default(), Size::new(373, 300).unwrap());
/// let tall = Size::new(300, 750).unwrap();
/// assert_eq!(tall.to_string(), "300 x 750");
/// assert!(Size::new(0, 300).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawSize", into = "RawSize")]
pub struct Size {
    width: u32,
    height: u32,
}

/// A side outside [`Size::MIN`]..=[`Size::MAX`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{side} {value} is outside {min}..={max} pixels", min = Size::MIN, max = Size::MAX)]
pub struct SizeError {
    /// `width` or `height`.
    pub side: &'static str,
    /// The value given.
    pub value: u32,
}

impl Size {
    /// The smallest side accepted, in pixels.
    pub const MIN: u32 = 50;
    /// The largest side accepted, in pixels.
    pub const MAX: u32 = 4096;
    /// The vendor's default, 373 × 300.
    pub const DEFAULT: Size = Size {
        width: 373,
        height: 300,
    };

    /// A checked size; the first side out of bounds is reported (see
    /// [`Size::problems`] for both).
    pub fn new(width: u32, height: u32) -> Result<Self, SizeError> {
        match Self::problems(width, height).into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(Self { width, height }),
        }
    }

    /// Every side out of bounds.
    pub fn problems(width: u32, height: u32) -> Vec<SizeError> {
        [("width", width), ("height", height)]
            .into_iter()
            .filter(|(_, v)| !(Self::MIN..=Self::MAX).contains(v))
            .map(|(side, value)| SizeError { side, value })
            .collect()
    }

    /// The width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The height.
    pub fn height(&self) -> u32 {
        self.height
    }
}

impl Default for Size {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} x {}", self.width, self.height)
    }
}

#[derive(Serialize, Deserialize)]
struct RawSize {
    width: u32,
    height: u32,
}

impl TryFrom<RawSize> for Size {
    type Error = SizeError;

    fn try_from(raw: RawSize) -> Result<Self, Self::Error> {
        Size::new(raw.width, raw.height)
    }
}

impl From<Size> for RawSize {
    fn from(size: Size) -> Self {
        RawSize {
            width: size.width,
            height: size.height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_both_sides_are_reported() {
        assert!(Size::new(Size::MIN, Size::MAX).is_ok());
        assert_eq!(Size::problems(0, 5000).len(), 2);
        let err = Size::new(373, 49).unwrap_err();
        assert_eq!(err.to_string(), "height 49 is outside 50..=4096 pixels");
        assert!(serde_json::from_str::<Size>(r#"{"width":0,"height":300}"#).is_err());
        let json = serde_json::to_string(&Size::DEFAULT).unwrap();
        assert_eq!(json, r#"{"width":373,"height":300}"#);
    }
}
