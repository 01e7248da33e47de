/// Recorded from the live run (see `spdm_emu.rs`).
const LEAF_PIN: &str = "sha256//EKyar1jyh/pELW5e8mLtO+5Tfi7kqOe0nFGuIRoxcfg=";
const REFERENCE: &[(u8, &str)] = &[
    (1, "8d531d77d821e167114d1eb07e0ae19cfb565152408843c768f1135b548fdfa13a203e5c7f129ceacc017df26c999f62da26dbf2e1128345ec0f65d37f87ca41"),
    (2, "9effd8a668f76d3fce35451a136f8ef6710260e9ca28beef897f559fcdba48a4c066560fb4900195cae4d4fab1f7d11243421008af8614d92a3fcabbbf75248f"),
    (3, "ffde42483a687dd47d05f956a2d62007b71a2988084da1095ec2e43bca156680cae07d0b84cbc7fc9b1d4e80cd8669aa956aed8bb17b0a20a5031c288dfa8b9f"),
    (4, "3a0bd5b08436b1d386122090cfa0446cf2571b74f2a15f44df735695dab84bbb1bebb3aef39af6a0f97279b5fb04d513a52dd16547fe88d0455815520c861ed4"),
    (16, "0700000000000000"),
    (17, "c4f9625b48d4e0e192c463a2d00b43305d7d588d7d9c846c1d3f9ed1198883729a55b9178a4f7101dfa1c83234391b2ee98027e8a435d0283e29784ecda6406e"),
    (253, "fdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfd"),
    (254, "3f000000040000001f00000011000000"),
];
