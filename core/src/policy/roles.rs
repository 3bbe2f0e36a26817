//! Which texts are scored for prompt injection, and how strictly, by the role the codec gave
//! them. The operator's own system prompt is an instruction, not an attack, so it is not
//! scored by default; what a tool or a document brought into the conversation is where
//! indirect injection hides, so it is scored with a lower threshold than the user's text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::Role;

/// How one role is scored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RoleScore {
    /// Not scored: no injection finding, and `injection.score` ignores it.
    Off,
    /// Scored at the policy's `injection_threshold`.
    Default,
    /// Scored at the policy's `injection_threshold` minus [`STRICT_MARGIN`] (never below
    /// [`STRICT_FLOOR`]): stricter, whichever detector (rules or model) is on.
    Strict,
    /// Scored at this threshold, in [0, 1].
    Threshold(f32),
}

/// How much lower a strict role's threshold is than the policy's. Chosen on the dev split of
/// the injection corpus (`docs/injection.md`, "Per-role thresholds").
pub const STRICT_MARGIN: f32 = 0.15;
/// Lowest threshold `strict` gives.
pub const STRICT_FLOOR: f32 = 0.2;

impl Serialize for RoleScore {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RoleScore::Off => s.serialize_str("off"),
            RoleScore::Default => s.serialize_str("default"),
            RoleScore::Strict => s.serialize_str("strict"),
            RoleScore::Threshold(t) => s.serialize_f32(*t),
        }
    }
}

impl<'de> Deserialize<'de> for RoleScore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Word(String),
        }
        let expected = "a threshold between 0 and 1, `off`, `default` or `strict`";
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom(format!("expected {expected}")))?
        {
            Raw::Number(n) if (0.0..=1.0).contains(&n) => Ok(RoleScore::Threshold(n as f32)),
            Raw::Number(n) => Err(serde::de::Error::custom(format!(
                "injection threshold {n} is outside [0, 1]"
            ))),
            Raw::Word(w) => match w.as_str() {
                "off" => Ok(RoleScore::Off),
                "default" => Ok(RoleScore::Default),
                "strict" => Ok(RoleScore::Strict),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}`: expected {expected}"
                ))),
            },
        }
    }
}

/// `detectors.injection_roles`: one entry per role the codecs tell apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InjectionRoles {
    /// The operator's system prompt (`system`, `developer`, `instructions`, `systemInstruction`).
    pub system: RoleScore,
    pub user: RoleScore,
    /// Earlier model turns sent back in the request, and the model's answer.
    pub assistant: RoleScore,
    /// Tool and MCP results fed back to the model: indirect injection.
    pub tool_result: RoleScore,
    /// Arguments of tool calls.
    pub tool_arguments: RoleScore,
    /// Tool descriptions (`tools[]`, MCP `tools/list`): tool poisoning.
    pub tool_description: RoleScore,
    /// Model reasoning (`thinking`).
    pub reasoning: RoleScore,
    /// Text of an unknown role (plain text bodies, unrecognised fields).
    pub other: RoleScore,
}

impl Default for InjectionRoles {
    fn default() -> Self {
        InjectionRoles {
            system: RoleScore::Off,
            user: RoleScore::Default,
            assistant: RoleScore::Default,
            tool_result: RoleScore::Strict,
            tool_arguments: RoleScore::Default,
            tool_description: RoleScore::Strict,
            reasoning: RoleScore::Default,
            other: RoleScore::Default,
        }
    }
}

impl InjectionRoles {
    pub fn is_default(&self) -> bool {
        *self == InjectionRoles::default()
    }

    pub fn score(&self, role: Role) -> RoleScore {
        match role {
            Role::System => self.system,
            Role::User => self.user,
            Role::Assistant => self.assistant,
            Role::ToolResult => self.tool_result,
            Role::ToolArguments => self.tool_arguments,
            Role::ToolDescription => self.tool_description,
            Role::Reasoning => self.reasoning,
            Role::Other => self.other,
        }
    }

    /// The resolved thresholds, one per role (`None`: not scored), for the hot path.
    pub fn thresholds(&self, default: f32) -> RoleThresholds {
        let mut t = [None; ROLES];
        for (slot, role) in t.iter_mut().zip(ALL_ROLES) {
            *slot = match self.score(role) {
                RoleScore::Off => None,
                RoleScore::Default => Some(default),
                RoleScore::Strict => Some((default - STRICT_MARGIN).max(STRICT_FLOOR).min(default)),
                RoleScore::Threshold(x) => Some(x),
            };
        }
        RoleThresholds(t)
    }
}

const ROLES: usize = 8;

/// Every role, in [`role_index`] order.
pub const ALL_ROLES: [Role; ROLES] = [
    Role::System,
    Role::User,
    Role::Assistant,
    Role::ToolResult,
    Role::ToolArguments,
    Role::ToolDescription,
    Role::Reasoning,
    Role::Other,
];

pub fn role_index(role: Role) -> usize {
    match role {
        Role::System => 0,
        Role::User => 1,
        Role::Assistant => 2,
        Role::ToolResult => 3,
        Role::ToolArguments => 4,
        Role::ToolDescription => 5,
        Role::Reasoning => 6,
        Role::Other => 7,
    }
}

/// Threshold per role, `None` where the role is not scored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoleThresholds([Option<f32>; ROLES]);

impl RoleThresholds {
    /// Every role at `threshold` (what a policy without `injection_roles` meant before roles).
    pub fn uniform(threshold: f32) -> Self {
        RoleThresholds([Some(threshold); ROLES])
    }

    pub fn get(&self, role: Role) -> Option<f32> {
        self.0.get(role_index(role)).copied().flatten()
    }
}

/// The highest injection score seen, overall and per role, for rules that read
/// `injection.score` and `injection.roles`. Roles the policy does not score stay at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RoleScores {
    pub max: f32,
    pub by_role: [f32; ROLES],
}

impl RoleScores {
    /// Only an overall score (no role known).
    pub fn overall(score: f32) -> Self {
        RoleScores {
            max: score,
            by_role: [0.0; ROLES],
        }
    }

    pub fn record(&mut self, role: Role, score: f32) {
        self.max = self.max.max(score);
        if let Some(slot) = self.by_role.get_mut(role_index(role)) {
            *slot = slot.max(score);
        }
    }

    pub fn merge(&self, other: &RoleScores) -> RoleScores {
        let mut out = *self;
        out.max = out.max.max(other.max);
        for (a, b) in out.by_role.iter_mut().zip(other.by_role) {
            *a = a.max(b);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_skip_the_system_prompt_and_tighten_tool_text() {
        let t = InjectionRoles::default().thresholds(0.5);
        assert_eq!(t.get(Role::System), None);
        assert_eq!(t.get(Role::User), Some(0.5));
        assert_eq!(t.get(Role::ToolResult), Some(0.35));
        assert_eq!(t.get(Role::ToolDescription), Some(0.35));
        // The floor holds for a low policy threshold; strict is never laxer than the default.
        assert_eq!(
            InjectionRoles::default()
                .thresholds(0.25)
                .get(Role::ToolResult),
            Some(0.2)
        );
        assert_eq!(
            InjectionRoles::default()
                .thresholds(0.1)
                .get(Role::ToolResult),
            Some(0.1)
        );
    }

    #[test]
    fn words_and_numbers_parse_and_bad_values_are_refused() {
        let r: InjectionRoles =
            serde_json::from_str(r#"{"system": 0.7, "user": "off", "tool_result": "default"}"#)
                .unwrap();
        assert_eq!(r.system, RoleScore::Threshold(0.7));
        assert_eq!(r.user, RoleScore::Off);
        assert_eq!(r.tool_result, RoleScore::Default);
        assert_eq!(
            r.tool_description,
            RoleScore::Strict,
            "unnamed roles keep the default"
        );
        for bad in [
            r#"{"system": 1.5}"#,
            r#"{"system": "of"}"#,
            r#"{"system": true}"#,
            r#"{"sytem": "off"}"#,
        ] {
            assert!(
                serde_json::from_str::<InjectionRoles>(bad).is_err(),
                "{bad}"
            );
        }
        let back = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<InjectionRoles>(&back).unwrap(), r);
    }
}
