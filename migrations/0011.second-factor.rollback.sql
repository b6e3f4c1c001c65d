DROP TABLE IF EXISTS user_recovery_codes;
DROP TABLE IF EXISTS user_mfa;
