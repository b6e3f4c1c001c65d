DROP TABLE IF EXISTS service_secrets;
