DROP TABLE ext_change_log;
