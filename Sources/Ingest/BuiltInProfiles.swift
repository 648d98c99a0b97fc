// The built-in profiles, as the JSON an operator would write (docs/profiles.md). Each is
// decoded by `ProfileLibrary.builtIn` with the decoder that reads operators' files; one that
// `extends` another names a built-in listed before it.

/// The JSON text of each built-in profile, by name.
enum BuiltInProfiles {
    static let json: KeyValuePairs<String, String> = [
        "oneroster-1.1": oneRoster11,
        "oneroster-1.2": oneRoster12,
        "clever": clever,
    ]

    /// OneRoster 1.1 (FORMATS.md "OneRoster CSV").
    static let oneRoster11 = """
    {
      "name": "oneroster-1.1",
      "description": "OneRoster 1.1 CSV (1EdTech): manifest.csv with oneroster.version 1.1",
      "caseSensitiveNames": true,
      "recognition": {
        "manifest": {
          "file": "manifest.csv",
          "header": ["propertyName", "value"],
          "values": {"manifest.version": "1.0", "oneroster.version": "1.1"},
          "filePrefix": "file.",
          "modes": ["absent", "bulk", "delta"],
          "whenMissing": "a OneRoster 1.0 export has none, and is not a format processed here: ask the district for a OneRoster 1.1 or 1.2 export, or, if manifest.csv was left out of the upload, for the set again with it"
        }
      },
      "extensionPrefix": "metadata.",
      "files": [
        {
          "name": "academicSessions",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"},
            {"name": "title", "required": true, "valueRequired": true},
            {
              "name": "type",
              "required": true,
              "valueRequired": true,
              "type": "enum",
              "values": ["gradingPeriod", "semester", "schoolYear", "term"]
            },
            {"name": "startDate", "required": true, "valueRequired": true, "type": "date"},
            {"name": "endDate", "required": true, "valueRequired": true, "type": "date"},
            {"name": "parentSourcedId", "references": "academicSessions"},
            {"name": "schoolYear", "required": true, "valueRequired": true, "type": "year"}
          ],
          "ordered": [{"first": "startDate", "last": "endDate"}]
        },
        {
          "name": "orgs",
          "required": true,
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"},
            {"name": "name", "required": true, "valueRequired": true},
            {
              "name": "type",
              "required": true,
              "valueRequired": true,
              "type": "enum",
              "values": ["district", "school", "local", "state", "national", "department"]
            },
            {"name": "identifier"},
            {"name": "parentSourcedId", "references": "orgs"}
          ]
        },
        {
          "name": "courses",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"},
            {"name": "schoolYearSourcedId", "references": "academicSessions"},
            {"name": "title", "required": true, "valueRequired": true},
            {"name": "courseCode"},
            {"name": "grades", "type": "grade", "list": true},
            {"name": "orgSourcedId", "required": true, "valueRequired": true, "references": "orgs"},
            {"name": "subjects", "list": true},
            {"name": "subjectCodes", "list": true}
          ]
        },
        {
          "name": "classes",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"},
            {"name": "title", "required": true, "valueRequired": true},
            {"name": "grades", "type": "grade", "list": true},
            {"name": "courseSourcedId", "required": true, "valueRequired": true, "references": "courses"},
            {"name": "classCode"},
            {"name": "classType", "required": true, "valueRequired": true, "type": "enum", "values": ["homeroom", "scheduled"]},
            {"name": "location"},
            {"name": "schoolSourcedId", "required": true, "valueRequired": true, "references": "orgs"},
            {"name": "termSourcedIds", "required": true, "valueRequired": true, "list": true, "references": "academicSessions"},
            {"name": "subjects", "list": true},
            {"name": "subjectCodes", "list": true},
            {"name": "periods", "list": true}
          ]
        },
        {
          "name": "users",
          "required": true,
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"},
            {"name": "enabledUser", "required": true, "valueRequired": true, "type": "boolean"},
            {"name": "orgSourcedIds", "required": true, "valueRequired": true, "list": true, "references": "orgs"},
            {
              "name": "role",
              "required": true,
              "valueRequired": true,
              "type": "enum",
              "values": ["administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher"]
            },
            {"name": "username", "required": true, "valueRequired": true},
            {"name": "userIds", "list": true},
            {"name": "givenName", "required": true, "valueRequired": true},
            {"name": "familyName", "required": true, "valueRequired": true},
            {"name": "middleName"},
            {"name": "identifier"},
            {"name": "email"},
            {"name": "sms"},
            {"name": "phone"},
            {"name": "agentSourcedIds", "list": true, "references": "users"},
            {"name": "grades", "type": "grade", "list": true},
            {"name": "password"}
          ]
        },
        {
          "name": "enrollments",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"},
            {"name": "classSourcedId", "required": true, "valueRequired": true, "references": "classes"},
            {"name": "schoolSourcedId", "required": true, "valueRequired": true, "references": "orgs"},
            {"name": "userSourcedId", "required": true, "valueRequired": true, "references": "users"},
            {
              "name": "role",
              "required": true,
              "valueRequired": true,
              "type": "enum",
              "values": ["administrator", "proctor", "student", "teacher"]
            },
            {"name": "primary", "type": "boolean"},
            {"name": "beginDate", "type": "date"},
            {"name": "endDate", "type": "date"}
          ],
          "ordered": [{"first": "beginDate", "last": "endDate"}]
        },
        {
          "name": "demographics",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true, "references": "users"},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"},
            {"name": "birthDate", "type": "date"},
            {"name": "sex", "type": "enum", "values": ["male", "female"]},
            {"name": "americanIndianOrAlaskaNative", "type": "boolean"},
            {"name": "asian", "type": "boolean"},
            {"name": "blackOrAfricanAmerican", "type": "boolean"},
            {"name": "nativeHawaiianOrOtherPacificIslander", "type": "boolean"},
            {"name": "white", "type": "boolean"},
            {"name": "demographicRaceTwoOrMoreRaces", "type": "boolean"},
            {"name": "hispanicOrLatinoEthnicity", "type": "boolean"},
            {"name": "countryOfBirthCode"},
            {"name": "stateOfBirthAbbreviation"},
            {"name": "cityOfBirth"},
            {"name": "publicSchoolResidenceStatus"}
          ]
        },
        {
          "name": "categories",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "classResources",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "courseResources",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "lineItems",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "resources",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "results",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        }
      ],
      "modeRules": [
        {"mode": "bulk", "blank": ["status", "dateLastModified"], "severity": "warning"},
        {"mode": "delta", "filled": ["status", "dateLastModified"], "severity": "row"}
      ],
      "massDrop": [
        {"file": "enrollments", "minimumRatio": 0.5, "minimumPreviousRows": 100},
        {"file": "users", "minimumRatio": 0.5, "minimumPreviousRows": 100}
      ]
    }
    """

    /// OneRoster 1.2: 1.1 with roles and the 1.2 files; users without orgSourcedIds and role.
    static let oneRoster12 = """
    {
      "extends": "oneroster-1.1",
      "name": "oneroster-1.2",
      "description": "OneRoster 1.2 CSV (1EdTech): manifest.csv with oneroster.version 1.2",
      "recognition": {
        "manifest": {
          "values": {"oneroster.version": "1.2"}
        }
      },
      "files": [
        {
          "name": "users",
          "columns": [
            {"name": "orgSourcedIds", "remove": true},
            {"name": "role", "remove": true},
            {"name": "userMasterIdentifier"},
            {"name": "resourceSourcedIds", "list": true},
            {"name": "preferredGivenName"},
            {"name": "preferredMiddleName"},
            {"name": "preferredFamilyName"},
            {"name": "primaryOrgSourcedId", "references": "orgs"},
            {"name": "pronouns"}
          ]
        },
        {
          "name": "roles",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"},
            {"name": "userSourcedId", "required": true, "valueRequired": true, "references": "users"},
            {"name": "roleType", "required": true, "valueRequired": true, "type": "enum", "values": ["primary", "secondary"]},
            {"name": "role", "required": true, "valueRequired": true},
            {"name": "beginDate", "type": "date"},
            {"name": "endDate", "type": "date"},
            {"name": "orgSourcedId", "required": true, "valueRequired": true, "references": "orgs"},
            {"name": "userProfileSourcedId", "references": "userProfiles"}
          ],
          "ordered": [{"first": "beginDate", "last": "endDate"}]
        },
        {
          "name": "demographics",
          "columns": [
            {"name": "sex", "values": ["male", "female", "other", "unspecified"]}
          ]
        },
        {"name": "courseResources"},
        {
          "name": "lineItemLearningObjectiveIds",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "lineItemScoreScales",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {"name": "resources"},
        {
          "name": "resultLearningObjectiveIds",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "resultScoreScales",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {"name": "results"},
        {
          "name": "scoreScales",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "userProfiles",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "userResources",
          "key": "sourcedId",
          "duplicates": "fail",
          "columns": [
            {"name": "sourcedId", "required": true, "valueRequired": true},
            {"name": "status", "type": "enum", "values": ["active", "tobedeleted"]},
            {"name": "dateLastModified", "type": "datetime"}
          ],
          "otherColumns": "ignore"
        }
      ]
    }
    """

    /// Clever-style CSV (FORMATS.md "Clever-style CSV").
    static let clever = """
    {
      "name": "clever",
      "description": "Clever-style CSV: no manifest; file and column names in any case",
      "caseSensitiveNames": false,
      "recognition": {
        "fileNames": ["schools.csv", "students.csv", "teachers.csv", "sections.csv", "enrollments.csv", "staff.csv"],
        "withoutFiles": ["manifest.csv"]
      },
      "files": [
        {
          "name": "schools",
          "required": true,
          "key": "School_id",
          "columns": [
            {"name": "School_id", "required": true, "valueRequired": true},
            {"name": "School_name", "required": true, "valueRequired": true},
            {"name": "School_number", "required": true, "oftenOmitted": true, "valueRequired": true},
            {"name": "State_id"},
            {"name": "Low_grade"},
            {"name": "High_grade"},
            {"name": "Principal"},
            {"name": "Principal_email"},
            {"name": "School_address"},
            {"name": "School_city"},
            {"name": "School_state"},
            {"name": "School_zip"},
            {"name": "School_phone"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "students",
          "required": true,
          "key": "Student_id",
          "duplicates": "allow",
          "columns": [
            {"name": "School_id", "required": true, "valueRequired": true, "references": "schools"},
            {"name": "Student_id", "required": true, "valueRequired": true},
            {"name": "Last_name", "required": true, "valueRequired": true},
            {"name": "First_name", "required": true, "valueRequired": true},
            {"name": "Middle_name"},
            {"name": "Student_number"},
            {"name": "State_id"},
            {"name": "Student_email"},
            {"name": "DOB", "type": "usDate", "whenInvalid": "warning"},
            {"name": "Grade"},
            {"name": "Gender"},
            {"name": "IEP_status", "type": "flag", "whenInvalid": "warning"},
            {"name": "Section_504_status", "type": "flag", "whenInvalid": "warning"},
            {"name": "Disability_status", "type": "flag", "whenInvalid": "warning"},
            {"name": "Disability_type"},
            {"name": "Disability_code"},
            {"name": "Ell_status", "type": "flag", "whenInvalid": "warning"},
            {"name": "Frl_status"},
            {"name": "Student_street"},
            {"name": "Student_city"},
            {"name": "Student_state"},
            {"name": "Student_zip"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "teachers",
          "key": "Teacher_id",
          "columns": [
            {"name": "School_id", "required": true, "valueRequired": true, "references": "schools"},
            {"name": "Teacher_id", "required": true, "valueRequired": true},
            {"name": "First_name", "required": true, "valueRequired": true},
            {"name": "Last_name", "required": true, "valueRequired": true},
            {"name": "Teacher_number"},
            {"name": "Teacher_email"},
            {"name": "State_teacher_id"},
            {"name": "Title"}
          ],
          "otherColumns": "ignore"
        },
        {
          "name": "sections",
          "key": "Section_id",
          "columns": [
            {"name": "School_id", "required": true, "valueRequired": true, "references": "schools"},
            {"name": "Section_id", "required": true, "valueRequired": true},
            {"name": "Teacher_id", "required": true, "valueRequired": true, "references": "teachers"},
            {"name": "Name"},
            {"name": "Section_number"},
            {"name": "Grade"},
            {"name": "Course_name"},
            {"name": "Course_number"},
            {"name": "Subject"},
            {"name": "Period"},
            {"name": "Term_name"},
            {"name": "Term_start", "type": "usDate", "whenInvalid": "warning"},
            {"name": "Term_end", "type": "usDate", "whenInvalid": "warning"}
          ],
          "otherColumns": "ignore",
          "ordered": [{"first": "Term_start", "last": "Term_end"}]
        },
        {
          "name": "enrollments",
          "columns": [
            {"name": "School_id", "required": true, "valueRequired": true, "references": "schools"},
            {"name": "Section_id", "required": true, "valueRequired": true, "references": "sections"},
            {"name": "Student_id", "required": true, "valueRequired": true, "references": "students"}
          ],
          "otherColumns": "reject"
        },
        {
          "name": "staff",
          "key": "Staff_id",
          "columns": [
            {"name": "School_id", "required": true, "valueRequired": true, "references": "schools"},
            {"name": "Staff_id", "required": true, "valueRequired": true},
            {"name": "Staff_email", "required": true, "valueRequired": true},
            {"name": "First_name", "required": true, "valueRequired": true},
            {"name": "Last_name", "required": true, "valueRequired": true},
            {"name": "Title"},
            {"name": "Department"}
          ],
          "otherColumns": "ignore"
        }
      ],
      "massDrop": [
        {"file": "enrollments", "minimumRatio": 0.5, "minimumPreviousRows": 100},
        {"file": "students", "minimumRatio": 0.5, "minimumPreviousRows": 100}
      ]
    }
    """
}
